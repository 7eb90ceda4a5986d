"""``?format=csv`` of a location's access points and rooms (docs/api.md, "CSV columns"):
the JSON row's columns, then the location and its organization, ids and names, each in
its own column. Written from ``values()`` rows by ``wlm.lib.csv.Export`` from the very
queryset the JSON list reads (the tenancy door, the location, the ordering)."""

from wlm.lib.csv import Column, DateTime, Export

_WHERE = [
    Column("location", "location_id"),
    Column("location_name", "location__name"),
    Column("organization", "location__organization_id"),
    Column("organization_name", "location__organization__name"),
]

ACCESS_POINT_CSV = Export(
    [Column("id"), Column("mac"), Column("name"), DateTime("created"), *_WHERE]
)
ROOM_CSV = Export([Column("id"), Column("number"), DateTime("created"), *_WHERE])
