"""Decorator: @trigger_on_finish(flow=...)."""
from metaflow import FlowSpec, project, step, trigger_on_finish


@trigger_on_finish(flow="LinearFlow")
@project(name="shapes")
class TriggerOnFinishFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TriggerOnFinishFlow()
