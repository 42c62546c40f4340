"""Shape: a switch inside a foreach whose cases go straight to the join (Metaflow refuses)."""
from metaflow import FlowSpec, project, step


@project(name="shapes")
class SwitchForeachJoinFlow(FlowSpec):
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
        self.next(self.join)

    @step
    def pb(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SwitchForeachJoinFlow()
