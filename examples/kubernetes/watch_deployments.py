"""Watch the Deployments of a namespace and log each event, as an operator would.

In a cluster it uses the pod's service account; KUBERNETES_API points it at another API
server (the tests' stand-in, or `kubectl proxy`).
"""

import os

from kubernetes import client, config, watch


def api() -> client.AppsV1Api:
    host = os.environ.get("KUBERNETES_API")
    if host:
        configuration = client.Configuration()
        configuration.host = host
        return client.AppsV1Api(client.ApiClient(configuration))
    config.load_incluster_config()
    return client.AppsV1Api()


def main() -> None:
    namespace = os.environ.get("NAMESPACE", "default")
    limit = int(os.environ.get("EVENTS", "0"))  # 0: watch for ever
    events = watch.Watch().stream(api().list_namespaced_deployment, namespace)
    for seen, event in enumerate(events, 1):
        print(f"Event: {event['type']} {event['object'].metadata.name}", flush=True)
        if limit and seen >= limit:
            break


if __name__ == "__main__":
    main()
