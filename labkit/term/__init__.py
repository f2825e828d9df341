"""The course's term around the grades: deadlines and late penalties, TA overrides, gradebook scores, hand-in manifests, building submissions."""
