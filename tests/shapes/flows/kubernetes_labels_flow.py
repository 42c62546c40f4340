"""Decorator: @kubernetes(labels=..., annotations=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesLabelsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(labels={"team": "ml"}, annotations={"note": "hello"})
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesLabelsFlow()
