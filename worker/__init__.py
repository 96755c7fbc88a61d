"""Workers: the Celery app and task, the job function both paths share, heartbeats, reaper."""
