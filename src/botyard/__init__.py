"""Botyard: self-hosted chatbot platform with a developer API."""
