"""lab06's hidden checks. Their helpers (``grader``, ``strategies``) are imported relative to this
package, so another assignment's helpers of the same name never stand in for them."""
