"""``CONTRAIL_TEST_STACK=docker``: Kafka, PostgreSQL and MinIO in testcontainers.

The gateway, the services and a worker run as local processes against them,
managed by the same ``Stack`` as the local stack. Needs a Docker engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from shared.settings import StackSettings


@contextmanager
def docker_stack() -> Iterator[StackSettings]:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.minio import MinioContainer
    from testcontainers.community.postgres import PostgresContainer

    from contrail.demo.stack import Stack

    defaults = StackSettings()
    postgres = PostgresContainer(
        "postgres:15",
        username=defaults.pg_user,
        password=defaults.pg_password.get_secret_value(),
        dbname=defaults.pg_database,
    )
    kafka = KafkaContainer().with_kraft()
    minio = MinioContainer(
        access_key=defaults.s3_access_key, secret_key=defaults.s3_secret_key.get_secret_value()
    )
    with postgres, kafka, minio:
        minio_config = minio.get_config()
        overrides = {
            "CONTRAIL_PG_HOST": postgres.get_container_host_ip(),
            "CONTRAIL_PG_PORT": str(postgres.get_exposed_port(5432)),
            "CONTRAIL_KAFKA_BOOTSTRAP": kafka.get_bootstrap_server(),
            "CONTRAIL_S3_ENDPOINT": f"http://{minio_config['endpoint']}",
            "CONTRAIL_HOME": os.path.join(defaults.home, "docker"),
        }
        saved = {key: os.environ.get(key) for key in overrides}
        os.environ.update(overrides)
        stack = Stack(StackSettings(), infrastructure=False)
        try:
            stack.up(progress=False)
            yield stack.settings
        finally:
            stack.down(progress=False)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
