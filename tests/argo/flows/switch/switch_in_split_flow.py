"""Shape: a switch inside one branch of a static split."""
from metaflow import FlowSpec, project, step


@project(name="shapes")
class SwitchInSplitFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.left, self.right)

    @step
    def left(self):
        self.mode = "x"
        self.next({"x": self.lx, "y": self.ly}, condition="mode")

    @step
    def lx(self):
        self.next(self.merge)

    @step
    def ly(self):
        self.next(self.merge)

    @step
    def right(self):
        self.next(self.merge)

    @step
    def merge(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SwitchInSplitFlow()
