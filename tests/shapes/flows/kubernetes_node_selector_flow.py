"""Decorator: @kubernetes(node_selector=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesNodeSelectorFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(node_selector={"disktype": "ssd"})
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesNodeSelectorFlow()
