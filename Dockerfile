# One image for every Tenure service; the command picks the service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY migrations ./migrations
RUN pip install . && useradd --system --no-create-home tenure
USER tenure

EXPOSE 8001 8002 8003 8004
CMD ["tenure", "--help"]
