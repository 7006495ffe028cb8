FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=insurer.settings
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# collectstatic needs no secrets: DEBUG lets the settings load without them.
RUN DJANGO_DEBUG=1 python manage.py collectstatic --noinput

RUN useradd --create-home app && mkdir -p /srv/private && chown app /srv/private
USER app
EXPOSE 8000
CMD ["gunicorn", "insurer.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
