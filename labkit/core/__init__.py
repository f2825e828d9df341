"""The model every layer shares: the assignment's description, settings, result types, flags, messages (i18n), notebook cells. Imports nothing else of labkit."""
