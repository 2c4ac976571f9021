"""Flights: positions cut into clean flights, summarised and drawn in the receiver's frame."""
