"""Docker Compose projects as CIs: each service (classed by its image), each named volume, and
the dependencies Compose wires or the environment names."""

from loaders.compose import get, transform
from loaders.sync.importer import Importer

IMPORTER = Importer(
    name="compose",
    description="Docker Compose files (a compose file, or a directory searched for compose.yaml, "
                "compose.yml, docker-compose.yaml, docker-compose.yml)",
    get=get.read,
    transform=transform.transform,
)
