FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingest ingest
COPY tracks tracks
COPY anomaly anomaly
COPY api api
COPY config config
COPY lookout lookout
RUN pip install --no-cache-dir .
ENV LOOKOUT_API__HOST=0.0.0.0
EXPOSE 8000
ENTRYPOINT ["lookout"]
CMD ["run"]
