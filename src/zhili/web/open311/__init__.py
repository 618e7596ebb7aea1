"""Open311 GeoReport v2 at ``/open311/v2/``: the event catalogue as services, events as
service requests, so existing 311 clients and apps can report to and follow the city.
See docs/grid.md, "Open311 GeoReport v2"."""
