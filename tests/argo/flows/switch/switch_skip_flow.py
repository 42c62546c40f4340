"""Shape: switch with a case that skips to the step where the cases meet."""
from metaflow import FlowSpec, project, step


@project(name="shapes")
class SwitchSkipFlow(FlowSpec):
    @step
    def start(self):
        self.mode = "a"
        self.next({"a": self.a, "b": self.b, "c": self.meet}, condition="mode")

    @step
    def a(self):
        self.next(self.a2)

    @step
    def a2(self):
        self.next(self.meet)

    @step
    def b(self):
        self.next(self.meet)

    @step
    def meet(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SwitchSkipFlow()
