"""Decorator: @kubernetes(persistent_volume_claims=...)."""
from metaflow import FlowSpec, kubernetes, project, step


@project(name="shapes")
class KubernetesPvcFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @kubernetes(persistent_volume_claims={"my-claim": "/mnt/data"})
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    KubernetesPvcFlow()
