"""Decorator: @kubernetes(tolerations=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesTolerationsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}])
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesTolerationsFlow()
