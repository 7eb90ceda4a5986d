# Spanish (Spain): dd/mm/yyyy, 24-hour times labelled with their zone; a typed date is read
# as dd/mm/yyyy, and ISO 8601 is still accepted (links and the browser's date picker)
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i T"
DATE_INPUT_FORMATS = ["%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d"]
