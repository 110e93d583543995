# Board wiring and limits of the rig's Pico step generator. Edit to match your wiring
# (firmware/README.md has the tables); copy to the Pico with the rest of firmware/.

STEP_PIN = 2  # driver STEP (driven by PIO)
DIR_PIN = 3  # driver DIR
EN_PIN = 4  # driver EN (None if hard-wired)
EN_ACTIVE_LOW = True  # A4988, DRV8825 and TMC2209 enable when EN is low
DIR_INVERT = False  # swap the direction of travel

LIMIT_LO_PIN = 10  # near-end limit switch (None if absent)
LIMIT_HI_PIN = 11  # far-end limit switch (None if absent)
SWITCH_NC = False  # switches go between the pin and GND (pull-up on); True for normally-closed ones

FOCUS_PIN = 14  # opto-isolator LED for the camera's focus (half-press) line
SHUTTER_PIN = 15  # opto-isolator LED for the camera's shutter line

MAX_RATE = 50000  # steps/s the firmware accepts (the PIO program manages ~290 000)
MAX_ACCEL = 2000000  # steps/s^2 the firmware accepts
HW_WDT_MS = 2000  # the RP2040 hardware watchdog resets the board if the loop hangs (0 = off)
SAFE_PIN = 22  # held low at power-up: main.py returns to the REPL instead of running (None = off)
