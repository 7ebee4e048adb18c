"""Fine-Tuning Studio: the entry script of ``streamlit run app.py``. It draws the frame and runs the chosen page
(app_pages/); see :mod:`ui.frame`."""

from ui.frame import navigation

navigation().run()
