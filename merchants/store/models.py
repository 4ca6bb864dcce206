from django.db import models


class Product(models.Model):
    """A product of the merchant's catalog, in the merchant's own schema."""

    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    barcode = models.CharField(max_length=32, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    tax_category = models.CharField(max_length=40, default="standard")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class StockLevel(models.Model):
    """On-hand quantity of a product at one of the merchant's locations."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="stock_levels")
    location_code = models.CharField(max_length=40)
    on_hand = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "location_code"], name="stock_unique_location")]

    def __str__(self) -> str:
        return f"{self.product.sku}@{self.location_code}: {self.on_hand}"
