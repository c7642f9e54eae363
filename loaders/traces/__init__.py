"""OpenTelemetry trace exports (OTLP JSON): the calls services were seen making, set against
the dependencies the CMDB declares. Not one of the syncing sources (`loaders.SOURCES`): a trace
export reports calls, not CIs, so nothing is retired when a call stops showing up; it just
ages (see `impact/observed.py`). get reads the files, transform (pure) derives the calls, load
records them and stamps the declared relationships they confirm."""
