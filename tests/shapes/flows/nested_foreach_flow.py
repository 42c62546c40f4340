"""Shape: a foreach inside a foreach."""
from metaflow import FlowSpec, project, step


@project(name="shapes")
class NestedForeachFlow(FlowSpec):
    @step
    def start(self):
        self.outer = [1, 2]
        self.next(self.middle, foreach="outer")

    @step
    def middle(self):
        self.inner = ["x", "y"]
        self.next(self.leaf, foreach="inner")

    @step
    def leaf(self):
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NestedForeachFlow()
