"""Decorator: @kubernetes(secrets=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesSecretsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(secrets=["my-k8s-secret"])
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesSecretsFlow()
