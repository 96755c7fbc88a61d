# One image for the CLI, the workers, Flower and the test suite.
# GPU boxes: --build-arg EXTRAS=gpu; Flower: EXTRAS=monitoring; the test profile: EXTRAS=test.
FROM python:3.11-slim
ARG EXTRAS=""
WORKDIR /app
# Every folder pyproject.toml maps to a package (tests/test_image.py builds the wheel from this list).
COPY pyproject.toml README.md ./
COPY core core
COPY cli cli
COPY worker worker
COPY models models
COPY db db
COPY runtime runtime
COPY web web
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}"
COPY tests tests
ENV LATENTQ_HOME=/data
VOLUME /data
ENTRYPOINT ["latentq"]
CMD ["--help"]
