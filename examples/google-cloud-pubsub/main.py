"""Create a Pub/Sub topic and delete it again, printing both names.

PUBSUB_EMULATOR_HOST (host:port) sends the client to the Pub/Sub emulator instead of
Google Cloud, with no credentials; PROJECT_ID names the project (any name, on the emulator).
"""

import os
import uuid

from google.cloud import pubsub_v1


def main() -> None:
    project = os.environ.get("PROJECT_ID", "made-up-project")
    publisher = pubsub_v1.PublisherClient()
    path = publisher.topic_path(project, f"topic-{uuid.uuid4().hex[:8]}")
    topic = publisher.create_topic(request={"name": path})
    print(f"Topic [{topic.name}] created")
    publisher.delete_topic(request={"topic": path})
    print(f"Topic [{path}] deleted")


if __name__ == "__main__":
    main()
