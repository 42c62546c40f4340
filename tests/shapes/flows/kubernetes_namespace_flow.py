"""Decorator: @kubernetes(namespace=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesNamespaceFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(namespace="team-ns")
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesNamespaceFlow()
