"""A small SQLAlchemy 2.x app, the same code against SQLite (`make PATH`, tables by metadata.create_all) or
PostgreSQL (`check URL UID`), for the tests."""

import json
import sys
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Part(Base):
    __tablename__ = "part"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[uuid.UUID] = mapped_column(sa.Uuid, default=uuid.uuid4, unique=True)
    spec: Mapped[dict] = mapped_column(sa.JSON)
    price: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    made: Mapped[datetime] = mapped_column(sa.DateTime)
    wait: Mapped[timedelta] = mapped_column(sa.Interval)


if sys.argv[1] == "make":
    engine = sa.create_engine(f"sqlite:///{sys.argv[2]}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([Part(spec={"color": "red" if i % 2 else "blue", "n": i}, price=Decimal(f"{i}.25"),
                        made=datetime(2024, 2, 1 + i, 8, 30), wait=timedelta(hours=i, microseconds=250))
                   for i in range(12)])
        s.commit()
        print(json.dumps({"uid": str(s.scalars(sa.select(Part.uid).where(Part.id == 5)).one())}))
else:
    engine = sa.create_engine(sys.argv[2])
    with Session(engine) as s:
        part = s.scalars(sa.select(Part).where(Part.uid == uuid.UUID(sys.argv[3]))).one()  # binds a uuid
        red = s.scalar(sa.select(sa.func.count()).where(Part.spec["color"].as_string() == "red"))
        new = Part(spec={"new": True}, price=Decimal("1.00"), made=datetime(2025, 1, 1, tzinfo=timezone.utc),
                   wait=timedelta(seconds=1))
        s.add(new)
        s.commit()
        print(json.dumps({"id": part.id, "n": part.spec["n"], "red": red, "price": str(part.price),
                          "new_id": new.id, "uid_type": type(part.uid).__name__,
                          "wait": part.wait == timedelta(hours=4, microseconds=250)}))
