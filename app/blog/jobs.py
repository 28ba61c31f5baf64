"""RQ entry points of the blog: publishing a scheduled post when its time comes."""
import uuid

from app.blog import service


def publish_scheduled_post(post_id: str) -> bool:
    """Publish the scheduled post `post_id` if it is still scheduled and due."""
    return service.publish_if_due(uuid.UUID(post_id))
