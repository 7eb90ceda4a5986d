# English: ISO 8601 dates, 24-hour times labelled with their zone
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_INPUT_FORMATS = ["%Y-%m-%d"]
