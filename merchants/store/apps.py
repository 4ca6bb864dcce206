from django.apps import AppConfig


class StoreConfig(AppConfig):
    """A merchant's operational data, in the merchant's own schema: few, stable tables."""

    name = "merchants.store"
    label = "store"
    verbose_name = "Merchant store data"

    def ready(self) -> None:
        from merchants.store import models
        from qiiub import retention

        def table(model) -> str:
            return model._meta.db_table

        # What terminals report about their peripherals: a log, read by no page once it is old.
        statuses = retention.TableRule(
            name="device_statuses", table=table(models.DeviceStatus), aged_by="reported_at",
            window=retention.days_setting("RETENTION_DEVICE_STATUS_DAYS"), tenant=True,
        )
        # The merchant's books (IVU returns, accounting exports, cash and stock audits) are not a
        # log: kept RETENTION_BOOKS_YEARS. Customers are the merchant's records of people, not kept
        # by age (nor deleted by it).
        books = retention.years_setting("RETENTION_BOOKS_YEARS")
        sales = retention.TableRule(
            name="sales", table=table(models.Sale), aged_by="completed_at", window=books, tenant=True,
            children=tuple((table(child), "sale_id") for child in (models.SaleLine, models.SaleTaxLine, models.Tender)),
        )
        shifts = retention.TableRule(name="shift_closes", table=table(models.ShiftClose), aged_by="closed_at",
                                     window=books, tenant=True)
        stock = retention.TableRule(name="inventory_records", table=table(models.InventoryRecord),
                                    aged_by="occurred_at", window=books, tenant=True)
        retention.register(statuses, sales, shifts, stock)
