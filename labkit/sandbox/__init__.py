"""Starting the worker confined: bwrap plans and launch, resource limits, CPU metering, the zygote's trusted side."""
