"""Decorator: @kubernetes(service_account=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesServiceAccountFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(service_account="team-sa")
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesServiceAccountFlow()
