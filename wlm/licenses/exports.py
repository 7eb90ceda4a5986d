"""``?format=csv`` of the module catalogue (docs/api.md, "CSV columns"): the JSON row's
columns, written from ``values()`` rows by ``wlm.lib.csv.Export`` as the other lists
are; then the kind of module as a label in the reader's language."""

from django.utils.translation import gettext_lazy as _

from wlm.lib.csv import Column, Export, Label

MODULE_KINDS = [(False, _("Base")), (True, _("Advanced"))]

MODULE_CSV = Export(
    [
        Column("code"),
        Column("name"),
        Column("description"),
        Column("advanced"),
        Label("advanced_label", "advanced", MODULE_KINDS),
    ]
)
