"""A small SQLAlchemy 2.x app, the same code against SQLite (`make PATH`, tables by metadata.create_all) or
PostgreSQL (`check URL UID`; `create URL`: the schema create_all makes there itself), for the tests."""

import enum
import json
import sys
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Status(enum.Enum):
    draft = "draft"
    listed = "listed"
    retired = "retired"


class Shelf(Base):
    __tablename__ = "shelf"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(30), unique=True)


class Part(Base):
    __tablename__ = "part"
    __table_args__ = (sa.CheckConstraint("qty >= 0", name="part_qty_nonneg"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[uuid.UUID] = mapped_column(sa.Uuid, default=uuid.uuid4, unique=True)
    spec: Mapped[dict] = mapped_column(sa.JSON)
    price: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    made: Mapped[datetime] = mapped_column(sa.DateTime)
    wait: Mapped[timedelta] = mapped_column(sa.Interval)
    status: Mapped[Status] = mapped_column(sa.Enum(Status))
    seen: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    qty: Mapped[int] = mapped_column(sa.Integer, default=0)
    sku: Mapped[str] = mapped_column(sa.String(20), index=True)
    shelf_id: Mapped[int | None] = mapped_column(sa.ForeignKey("shelf.id"))
    shelf: Mapped[Shelf | None] = relationship()


if sys.argv[1] == "make":
    engine = sa.create_engine(f"sqlite:///{sys.argv[2]}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        top = Shelf(label="top")
        s.add_all([Part(spec={"color": "red" if i % 2 else "blue", "n": i}, price=Decimal(f"{i}.25"),
                        made=datetime(2024, 2, 1 + i, 8, 30), wait=timedelta(hours=i, microseconds=250),
                        status=list(Status)[i % 3], seen=datetime(2024, 3, 1 + i, 9, tzinfo=timezone.utc),
                        qty=i * 2, sku=f"P{i:03}", shelf=top if i % 2 else None)
                   for i in range(12)])
        s.commit()
        print(json.dumps({"uid": str(s.scalars(sa.select(Part.uid).where(Part.id == 5)).one())}))
elif sys.argv[1] == "create":
    Base.metadata.create_all(sa.create_engine(sys.argv[2]))
else:
    engine = sa.create_engine(sys.argv[2])
    with Session(engine) as s:
        part = s.scalars(sa.select(Part).where(Part.uid == uuid.UUID(sys.argv[3]))).one()  # binds a uuid
        red = s.scalar(sa.select(sa.func.count()).where(Part.spec["color"].as_string() == "red"))
        listed = s.scalar(sa.select(sa.func.count()).where(Part.status == Status.listed))  # by an enum member
        on_5th = s.scalar(sa.select(sa.func.count()).where(Part.seen >= datetime(2024, 3, 5, 9, tzinfo=timezone.utc)))
        new = Part(spec={"new": True}, price=Decimal("1.00"), made=datetime(2025, 1, 1, tzinfo=timezone.utc),
                   wait=timedelta(seconds=1), status=Status.retired, seen=datetime.now(timezone.utc), sku="new",
                   shelf=Shelf(label="new"))
        s.add(new)
        s.commit()
        print(json.dumps({"id": part.id, "n": part.spec["n"], "red": red, "price": str(part.price),
                          "new_id": new.id, "uid_type": type(part.uid).__name__,
                          "wait": part.wait == timedelta(hours=4, microseconds=250), "status": part.status.name,
                          "listed": listed, "aware": part.seen == datetime(2024, 3, 5, 9, tzinfo=timezone.utc),
                          "on_5th": on_5th, "shelf": part.shelf_id, "new_shelf": new.shelf_id}))
