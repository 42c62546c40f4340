"""Shape: a switch inside a foreach, cases meeting before the join; a recursive switch too."""
from metaflow import FlowSpec, project, step


@project(name="shapes")
class SwitchInForeachFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.mode = "a"
        self.next({"a": self.pa, "b": self.pb}, condition="mode")

    @step
    def pa(self):
        self.next(self.after)

    @step
    def pb(self):
        self.next(self.after)

    @step
    def after(self):
        self.next(self.spin)

    @step
    def spin(self):
        self.state = "done"
        self.next({"again": self.spin, "done": self.last}, condition="state")

    @step
    def last(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SwitchInForeachFlow()
