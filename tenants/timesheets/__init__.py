"""Timesheets (*urenbriefjes*): hours per day per placement, entered by staff and approved or
rejected by the employer through a signed, expiring link. Only approved hours count."""
