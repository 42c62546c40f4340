"""Shape: a switch in a case of another switch, and a case that starts a foreach."""
from metaflow import FlowSpec, project, step


@project(name="shapes")
class SwitchNestedFlow(FlowSpec):
    @step
    def start(self):
        self.mode = "inner"
        self.next({"inner": self.inner, "fan": self.fan}, condition="mode")

    @step
    def inner(self):
        self.kind = "c"
        self.next({"c": self.c, "d": self.d}, condition="kind")

    @step
    def c(self):
        self.next(self.meet)

    @step
    def d(self):
        self.next(self.meet)

    @step
    def fan(self):
        self.items = [1, 2]
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.next(self.meet)

    @step
    def meet(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SwitchNestedFlow()
