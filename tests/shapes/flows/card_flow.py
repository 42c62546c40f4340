"""Decorator: @card."""
from metaflow import FlowSpec, card, project, step


@project(name="shapes")
class CardFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @card
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardFlow()
