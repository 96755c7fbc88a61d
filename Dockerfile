# One image for the CLI and the workers. GPU boxes: build with --build-arg EXTRAS=gpu.
FROM python:3.11-slim
ARG EXTRAS=""
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY cli cli
COPY worker worker
COPY models models
COPY db db
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}"
ENV LATENTQ_HOME=/data
VOLUME /data
ENTRYPOINT ["latentq"]
CMD ["--help"]
