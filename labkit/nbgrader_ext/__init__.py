"""nbgrader's extension points: the kit's preprocessors, exporter and late-penalty plug-ins, named in nbgrader_config.py."""
