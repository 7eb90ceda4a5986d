"""Date formats of the pages per language (``FORMAT_MODULE_PATH``; docs/i18n.md): English
keeps ISO 8601 (unambiguous for every distributor's country), Spanish reads dd/mm/yyyy;
times carry their zone's abbreviation. The rest is Django's own for each language."""
