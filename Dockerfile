FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cmdb_graph ./cmdb_graph
COPY impact ./impact
COPY loaders ./loaders
RUN pip install --no-cache-dir .
USER nobody
ENV CMDB_GRAPH_HOME=/tmp/cmdb-graph CMDB_GRAPH_USE_DOCKER=false
ENTRYPOINT []
CMD ["cmdb-graph", "--help"]
