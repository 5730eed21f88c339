# leadbot: one image for the web process and the workers.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LEADBOT_DATA_DIR=/data LEADBOT_HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY speech ./speech
COPY storage ./storage
COPY cards ./cards
RUN pip install --no-cache-dir . && useradd --create-home leadbot && mkdir -p /data && chown leadbot /data
USER leadbot
VOLUME ["/data"]
EXPOSE 8080
CMD ["leadbot", "serve", "--no-worker"]
