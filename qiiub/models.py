from django.db import models


class VaultSecret(models.Model):
    """The local vault's store: one encrypted secret per key, under the vault's own key list."""

    key = models.CharField(max_length=200, unique=True)
    ciphertext = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key
