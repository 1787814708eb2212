"""Files that move in and out of Servicedeck: workbooks now, calendars and imports later."""
