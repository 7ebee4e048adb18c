# ruff: noqa: E501  (the FAQ text is data; long lines read better than split strings)
"""Write ``medical_faq_dirty.csv``: a bilingual medical FAQ with a known number of each defect.

Run ``python sample_data/make_medical_faq.py`` to regenerate; the output is deterministic. Clean rows are
genuinely clean (answers of 50+ characters ending in punctuation or a list item, no personal data), so every
flag the cleaner raises is one of the defects planted below; ``sample_data/README.md`` documents the counts.
General health information for demonstration only, not medical advice.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

OUT = Path(__file__).with_name("medical_faq_dirty.csv")

EN_QUESTIONS = (
    "What is {t}?",
    "What are the usual symptoms of {t}?",
    "How can I lower my risk of {t}?",
    "When should I see a doctor about {t}?",
)
ES_QUESTIONS = (
    "¿Qué es {t}?",
    "¿Cuáles son los síntomas habituales de {t}?",
    "¿Cómo puedo reducir el riesgo de {t}?",
    "¿Cuándo debo consultar al médico por {t}?",
)

# topic, category, (what, symptoms, prevention, see a doctor)
EN = [
    (
        "the common cold",
        "infections",
        (
            "The common cold is a mild viral infection of the nose and throat that usually clears up within a week to ten days.",
            "A runny or blocked nose, sneezing, a sore throat and a mild cough are typical, sometimes with a slight temperature.",
            "Washing your hands often, not touching your face and keeping away from people who are ill all reduce the chance of catching a cold.",
            "See a doctor if symptoms last more than three weeks, get suddenly worse, or you have trouble breathing.",
        ),
    ),
    (
        "flu",
        "infections",
        (
            "Flu (influenza) is a respiratory infection caused by influenza viruses; it comes on quickly and is usually worse than a cold.",
            "Sudden fever, aching muscles, tiredness, a dry cough and a headache are the classic signs of flu.",
            "A yearly flu vaccine is the most effective protection, together with good hand hygiene and covering coughs and sneezes.",
            "Get medical help if you are pregnant, over 65, have a long-term condition, or feel short of breath or confused.",
        ),
    ),
    (
        "seasonal allergies",
        "allergies",
        (
            "Seasonal allergies, or hay fever, are the immune system's overreaction to pollen from trees, grasses or weeds.",
            "Sneezing, an itchy or runny nose, and red, watery, itchy eyes are the most common complaints during pollen season.",
            "Checking pollen forecasts, keeping windows closed on high-pollen days and showering after being outdoors can help.",
            "See a doctor if over-the-counter remedies do not help, or if allergies trigger wheezing or disturb your sleep.",
        ),
    ),
    (
        "asthma",
        "respiratory",
        (
            "Asthma is a long-term condition in which the airways become inflamed and narrow, making it harder to breathe.",
            "Common signs include:\n- wheezing\n- shortness of breath\n- a tight chest\n- coughing, often at night",
            "Knowing your triggers, such as smoke, dust or cold air, and using preventer inhalers as prescribed lowers the risk of attacks.",
            "Seek urgent care if your reliever inhaler does not help, you cannot finish a sentence, or your lips look blue.",
        ),
    ),
    (
        "high blood pressure",
        "cardiovascular",
        (
            'High blood pressure means the force of blood against the artery walls stays too high; it is often called a "silent" condition.',
            "Most people have no symptoms at all, which is why regular blood pressure checks are the only reliable way to find it.",
            "Eating less salt, staying active, keeping a healthy weight and limiting alcohol all help keep blood pressure down.",
            "Ask for a check at least every five years, or sooner if a reading was high or you have a family history of heart disease.",
        ),
    ),
    (
        "type 2 diabetes",
        "metabolic",
        (
            "Type 2 diabetes is a condition in which the body does not use insulin properly, so blood sugar levels rise over time.",
            "Feeling very thirsty, passing urine often, tiredness, blurred vision and cuts that heal slowly can all be signs.",
            "Regular physical activity, a balanced diet rich in fibre and keeping a healthy weight greatly reduce the risk.",
            "See a doctor if you notice several of the typical symptoms, or if diabetes runs in your family and you have never been tested.",
        ),
    ),
    (
        "migraine",
        "neurology",
        (
            "A migraine is a moderate or severe headache, usually felt as a throbbing pain on one side of the head, lasting hours or days.",
            "Besides the headache, many people feel sick, are sensitive to light or sound, or see flashing lights beforehand.",
            "Regular meals, enough sleep, staying hydrated and keeping a diary to spot personal triggers can reduce attacks.",
            "See a doctor if headaches are frequent, change pattern, or come with weakness, confusion or trouble speaking.",
        ),
    ),
    (
        "lower back pain",
        "musculoskeletal",
        (
            "Lower back pain is very common and is usually caused by a strain of the muscles or ligaments rather than serious damage.",
            "It typically feels like an ache or stiffness in the lower back that gets worse when bending, lifting or sitting for long.",
            "Staying active, lifting with bent knees, taking breaks from sitting and strengthening the core muscles all help.",
            "Seek help if the pain follows a fall, spreads down a leg with numbness, or comes with fever or bladder problems.",
        ),
    ),
    (
        "dehydration",
        "general",
        (
            "Dehydration happens when the body loses more fluid than it takes in, so it cannot work as well as it should.",
            "Thirst, dark yellow urine, a dry mouth, dizziness and tiredness are early warning signs of dehydration.",
            "Drinking regularly through the day, especially in hot weather, during exercise or when ill, keeps dehydration away.",
            "Get medical help if someone is confused, has not passed urine for many hours, or cannot keep fluids down.",
        ),
    ),
    (
        "sunburn",
        "skin",
        (
            "Sunburn is skin damage caused by too much ultraviolet light from the sun or sunbeds, and it raises the risk of skin cancer.",
            "Sunburnt skin is red, hot and sore, and may blister or peel a few days later.",
            "Use a broad-spectrum sunscreen, wear a hat and stay in the shade during the strongest sun of the day.",
            "See a doctor if the burn covers a large area, blisters badly, or comes with fever, chills or dizziness.",
        ),
    ),
    (
        "insomnia",
        "mental health",
        (
            "Insomnia means regularly having trouble falling asleep or staying asleep, even when there is time to rest.",
            "People with insomnia often lie awake, wake up during the night, and feel tired and irritable during the day.",
            'Good "sleep hygiene" helps:\n1. Go to bed at the same time each night.\n2. Keep the bedroom dark and quiet.\n3. Avoid caffeine and screens late in the evening.',
            "Talk to a doctor if poor sleep lasts for several weeks or is affecting your work, mood or safety.",
        ),
    ),
    (
        "iron-deficiency anaemia",
        "blood",
        (
            "Iron-deficiency anaemia is a lack of red blood cells or haemoglobin caused by too little iron in the body.",
            "Tiredness, pale skin, shortness of breath, headaches and noticing your heartbeat are common symptoms.",
            "Eating iron-rich foods such as pulses, leafy greens and lean meat, with vitamin C to help absorption, can prevent it.",
            "See a doctor if you feel tired all the time, as a simple blood test can confirm anaemia and look for its cause.",
        ),
    ),
    (
        "heartburn",
        "digestive",
        (
            "Heartburn is a burning feeling in the chest caused by stomach acid travelling up towards the throat.",
            "A burning pain behind the breastbone, a sour taste in the mouth and discomfort after eating are typical.",
            "Smaller meals, not eating late at night, cutting down on alcohol and raising the head of the bed can help.",
            "See a doctor if heartburn happens most days, you have trouble swallowing, or you are losing weight without trying.",
        ),
    ),
    (
        "a urinary tract infection",
        "infections",
        (
            "A urinary tract infection is an infection of the bladder, urethra or kidneys, most often caused by bacteria.",
            "Pain or burning when passing urine, needing to go often and cloudy urine are the most common signs.",
            "Drinking enough water and not holding urine for long periods may lower the chance of an infection.",
            "See a doctor promptly if you have a fever, back pain, blood in your urine, or if you are pregnant.",
        ),
    ),
    (
        "conjunctivitis",
        "eyes",
        (
            "Conjunctivitis is inflammation of the thin layer covering the white of the eye, caused by infection or allergy.",
            "The eye looks pink or red, feels gritty, and may water or produce a sticky discharge.",
            "Washing your hands, not sharing towels and avoiding rubbing your eyes help stop it from spreading.",
            "Seek care if you have eye pain, changes in vision, strong sensitivity to light, or if a newborn is affected.",
        ),
    ),
    (
        "chickenpox",
        "infections",
        (
            "Chickenpox is a common and contagious childhood illness caused by the varicella-zoster virus.",
            "An itchy rash of spots that turn into fluid-filled blisters and then scab over, often with a mild fever.",
            "A vaccine is available in many countries, and keeping away from people with chickenpox limits its spread.",
            "Call a doctor if the skin around blisters becomes red and painful, or if an adult, a newborn or a pregnant woman catches it.",
        ),
    ),
    (
        "food poisoning",
        "digestive",
        (
            "Food poisoning is an illness caused by eating food contaminated with bacteria, viruses or toxins.",
            "Nausea, vomiting, diarrhoea and stomach cramps usually begin within hours or a few days of eating the food.",
            "Cook meat thoroughly, keep raw and cooked foods apart, and refrigerate leftovers quickly.",
            "See a doctor if symptoms last more than a few days, there is blood in the stool, or signs of dehydration appear.",
        ),
    ),
    (
        "a sprained ankle",
        "musculoskeletal",
        (
            "A sprained ankle is an injury to the ligaments that support the ankle, usually from twisting or rolling the foot.",
            "Pain, swelling and bruising around the ankle, with difficulty putting weight on the foot, are typical.",
            "Warming up before sport, wearing supportive shoes and strengthening balance reduce the risk of sprains.",
            "Get the ankle checked if you cannot walk four steps, the bone itself is tender, or the pain does not ease.",
        ),
    ),
    (
        "anxiety",
        "mental health",
        (
            "Anxiety is a feeling of unease, worry or fear; it becomes a disorder when it is persistent and hard to control.",
            "Restlessness, a racing heart, trouble concentrating, poor sleep and constant worrying are common signs.",
            "Regular exercise, enough sleep, limiting caffeine and talking about worries with someone you trust can help.",
            "Talk to a doctor if anxiety is affecting daily life, or if you have panic attacks or thoughts of harming yourself.",
        ),
    ),
    (
        "osteoporosis",
        "musculoskeletal",
        (
            "Osteoporosis is a condition that weakens bones, making them fragile and more likely to break after a minor fall.",
            "It usually causes no symptoms until a bone breaks, often in the wrist, hip or spine.",
            "Weight-bearing exercise, enough calcium and vitamin D, not smoking and moderate alcohol keep bones strong.",
            "Ask a doctor about a bone density scan if you have broken a bone easily or have risk factors such as early menopause.",
        ),
    ),
    (
        "an ear infection",
        "infections",
        (
            "An ear infection is inflammation of the middle or outer ear, very common in young children.",
            "Earache, a high temperature, difficulty hearing and, in children, pulling at the ear are usual signs.",
            "Avoiding smoke exposure, keeping vaccinations up to date and drying the ears after swimming may help.",
            "See a doctor if symptoms last more than three days, there is fluid coming from the ear, or swelling behind it.",
        ),
    ),
    (
        "gout",
        "musculoskeletal",
        (
            "Gout is a type of arthritis caused by crystals of uric acid building up in a joint, often the big toe.",
            "Sudden, severe pain in a joint that becomes hot, swollen and red, often starting at night.",
            "Drinking plenty of water, limiting alcohol and sugary drinks, and keeping a healthy weight lower the risk.",
            "See a doctor if you have sudden severe joint pain, especially with a fever, as it needs to be diagnosed properly.",
        ),
    ),
]

ES = [
    (
        "el resfriado común",
        "infecciones",
        (
            "El resfriado común es una infección vírica leve de la nariz y la garganta que suele curarse en una semana o diez días.",
            "Lo típico es tener la nariz tapada o con mocos, estornudos, dolor de garganta y algo de tos, a veces con unas décimas.",
            "Lavarse las manos a menudo, no tocarse la cara y evitar el contacto cercano con personas enfermas reduce el contagio.",
            "Conviene consultar si los síntomas duran más de tres semanas, empeoran de repente o cuesta respirar.",
        ),
    ),
    (
        "la gripe",
        "infecciones",
        (
            "La gripe es una infección respiratoria causada por los virus de la influenza; aparece de golpe y suele ser más intensa que un resfriado.",
            "Síntomas frecuentes:\n- fiebre alta repentina\n- dolores musculares\n- cansancio intenso\n- tos seca y dolor de cabeza",
            "La vacuna anual es la protección más eficaz, junto con una buena higiene de manos y taparse al toser.",
            "Busca atención médica si estás embarazada, tienes más de 65 años, una enfermedad crónica o te falta el aire.",
        ),
    ),
    (
        "la alergia al polen",
        "alergias",
        (
            "La alergia al polen es una reacción exagerada del sistema inmunitario ante el polen de árboles, gramíneas o malezas.",
            "Estornudos, picor y goteo nasal, y ojos rojos, llorosos y con picor son las molestias más habituales en primavera.",
            "Consultar los niveles de polen, cerrar las ventanas los días de más polen y ducharse al volver a casa ayuda bastante.",
            "Acude al médico si los remedios sin receta no funcionan o si la alergia te provoca pitos en el pecho.",
        ),
    ),
    (
        "el asma",
        "respiratorio",
        (
            "El asma es una enfermedad crónica en la que los bronquios se inflaman y se estrechan, lo que dificulta la respiración.",
            "Pitos al respirar, falta de aire, opresión en el pecho y tos, sobre todo por la noche, son los signos típicos.",
            "Conocer los desencadenantes, como el humo, el polvo o el aire frío, y usar el tratamiento de control reduce las crisis.",
            "Pide ayuda urgente si el inhalador de rescate no funciona, no puedes terminar una frase o tienes los labios azulados.",
        ),
    ),
    (
        "la hipertensión",
        "cardiovascular",
        (
            'La hipertensión es una presión arterial elevada de forma mantenida; se la conoce como un "enemigo silencioso".',
            "La mayoría de las personas no nota nada, por eso medirse la tensión con regularidad es la única forma fiable de detectarla.",
            "Tomar menos sal, mantenerse activo, cuidar el peso y moderar el alcohol ayudan a mantener la tensión a raya.",
            "Mídete la tensión al menos cada cinco años, o antes si una medición salió alta o hay antecedentes familiares.",
        ),
    ),
    (
        "la diabetes tipo 2",
        "metabolismo",
        (
            "La diabetes tipo 2 es una enfermedad en la que el cuerpo no usa bien la insulina y el azúcar en sangre sube con el tiempo.",
            "Mucha sed, orinar a menudo, cansancio, visión borrosa y heridas que tardan en curar pueden ser señales.",
            "La actividad física regular, una dieta rica en fibra y mantener un peso saludable reducen mucho el riesgo.",
            "Consulta si notas varios de estos síntomas o si hay diabetes en tu familia y nunca te has hecho un análisis.",
        ),
    ),
    (
        "la migraña",
        "neurología",
        (
            "La migraña es un dolor de cabeza moderado o intenso, normalmente pulsátil y en un lado, que dura horas o días.",
            "Además del dolor, muchas personas sienten náuseas, molestia con la luz o el ruido, o ven destellos antes de la crisis.",
            "Comer a horas regulares, dormir lo suficiente, beber agua y llevar un diario para detectar desencadenantes ayuda.",
            "Consulta si los dolores son frecuentes, cambian de patrón o aparecen con debilidad, confusión o dificultad para hablar.",
        ),
    ),
    (
        "la lumbalgia",
        "aparato locomotor",
        (
            "La lumbalgia es el dolor en la parte baja de la espalda; casi siempre se debe a una sobrecarga muscular y no a una lesión grave.",
            "Suele notarse como un dolor sordo o rigidez que empeora al agacharse, levantar peso o estar sentado mucho tiempo.",
            "Mantenerse activo, levantar peso doblando las rodillas y fortalecer la musculatura abdominal previene recaídas.",
            "Consulta si el dolor aparece tras una caída, baja por la pierna con hormigueo o se acompaña de fiebre.",
        ),
    ),
    (
        "la deshidratación",
        "general",
        (
            "La deshidratación ocurre cuando el cuerpo pierde más líquido del que recibe y no puede funcionar con normalidad.",
            "Sed, orina de color oscuro, boca seca, mareo y cansancio son las primeras señales de alarma.",
            "Beber agua a lo largo del día, sobre todo con calor, al hacer ejercicio o si estás enfermo, evita la deshidratación.",
            "Busca ayuda si la persona está confusa, lleva muchas horas sin orinar o no tolera ningún líquido.",
        ),
    ),
    (
        "las quemaduras solares",
        "piel",
        (
            "Una quemadura solar es un daño en la piel causado por el exceso de radiación ultravioleta y aumenta el riesgo de cáncer de piel.",
            "La piel quemada está roja, caliente y dolorida, y puede formar ampollas o pelarse a los pocos días.",
            "Usa protector solar de amplio espectro, gorra y busca la sombra en las horas centrales del día.",
            "Consulta si la quemadura es extensa, tiene muchas ampollas o aparece fiebre, escalofríos o mareo.",
        ),
    ),
    (
        "el insomnio",
        "salud mental",
        (
            "El insomnio es la dificultad habitual para conciliar el sueño o mantenerlo, aunque haya tiempo para descansar.",
            "Quien lo sufre pasa tiempo despierto en la cama, se despierta por la noche y se siente cansado e irritable de día.",
            'Lo que se llama "higiene del sueño" ayuda:\n1. Acuéstate siempre a la misma hora.\n2. Mantén el dormitorio oscuro y silencioso.\n3. Evita el café y las pantallas por la noche.',
            "Habla con tu médico si duermes mal durante varias semanas o si afecta a tu trabajo, tu ánimo o tu seguridad.",
        ),
    ),
    (
        "la anemia ferropénica",
        "sangre",
        (
            "La anemia ferropénica es la falta de glóbulos rojos o de hemoglobina por no tener suficiente hierro en el cuerpo.",
            "Cansancio, palidez, falta de aire, dolores de cabeza y notar los latidos del corazón son síntomas habituales.",
            "Comer legumbres, verduras de hoja verde y carne magra, junto con vitamina C para absorber mejor el hierro, ayuda a prevenirla.",
            "Consulta si estás cansado todo el tiempo: un análisis de sangre sencillo puede confirmar la anemia y buscar su causa.",
        ),
    ),
    (
        "la acidez de estómago",
        "digestivo",
        (
            "La acidez es una sensación de ardor en el pecho causada por el ácido del estómago que sube hacia la garganta.",
            "Ardor detrás del esternón, sabor agrio en la boca y malestar después de comer son lo más típico.",
            "Comer menos cantidad, no cenar tarde, reducir el alcohol y elevar el cabecero de la cama suele ayudar.",
            "Consulta si tienes acidez casi todos los días, te cuesta tragar o pierdes peso sin buscarlo.",
        ),
    ),
    (
        "la infección de orina",
        "infecciones",
        (
            "La infección de orina afecta a la vejiga, la uretra o los riñones y casi siempre la causan bacterias.",
            "Dolor o escozor al orinar, ganas frecuentes de ir al baño y orina turbia son los signos más comunes.",
            "Beber suficiente agua y no aguantar las ganas de orinar durante mucho tiempo puede reducir el riesgo.",
            "Acude pronto al médico si tienes fiebre, dolor en la espalda, sangre en la orina o estás embarazada.",
        ),
    ),
    (
        "la conjuntivitis",
        "ojos",
        (
            "La conjuntivitis es la inflamación de la capa fina que recubre la parte blanca del ojo, por infección o alergia.",
            "El ojo se ve rosado o rojo, se nota arenilla y puede lagrimear o tener legañas pegajosas.",
            "Lavarse las manos, no compartir toallas y no frotarse los ojos evita que se contagie.",
            "Consulta si hay dolor en el ojo, cambios en la visión, mucha molestia con la luz o si afecta a un recién nacido.",
        ),
    ),
    (
        "la varicela",
        "infecciones",
        (
            "La varicela es una enfermedad infantil frecuente y muy contagiosa causada por el virus varicela-zóster.",
            "Aparecen granitos que pican, se convierten en ampollas con líquido y luego forman costra, a menudo con algo de fiebre.",
            "En muchos países existe una vacuna, y evitar el contacto con personas con varicela limita los contagios.",
            "Llama al médico si la piel alrededor de las ampollas se pone roja y dolorosa, o si se contagia un adulto o una embarazada.",
        ),
    ),
    (
        "la intoxicación alimentaria",
        "digestivo",
        (
            "La intoxicación alimentaria es una enfermedad causada por comer alimentos contaminados con bacterias, virus o toxinas.",
            "Náuseas, vómitos, diarrea y retortijones suelen empezar entre unas horas y unos días después de comer.",
            "Cocina bien la carne, separa los alimentos crudos de los cocinados y guarda las sobras en la nevera enseguida.",
            "Consulta si los síntomas duran más de unos días, hay sangre en las heces o aparecen signos de deshidratación.",
        ),
    ),
    (
        "el esguince de tobillo",
        "aparato locomotor",
        (
            "Un esguince de tobillo es una lesión de los ligamentos que sujetan el tobillo, normalmente por un mal giro del pie.",
            "Dolor, hinchazón y moratón alrededor del tobillo, con dificultad para apoyar el pie, son lo habitual.",
            "Calentar antes del deporte, usar calzado con buena sujeción y trabajar el equilibrio reduce los esguinces.",
            "Hazte revisar el tobillo si no puedes dar cuatro pasos, duele el hueso al tocarlo o el dolor no mejora.",
        ),
    ),
    (
        "la ansiedad",
        "salud mental",
        (
            "La ansiedad es una sensación de inquietud, preocupación o miedo; se considera un trastorno cuando es persistente y difícil de controlar.",
            "Inquietud, corazón acelerado, problemas de concentración, mal sueño y preocupación constante son señales comunes.",
            "El ejercicio regular, dormir bien, reducir la cafeína y hablar de las preocupaciones con alguien de confianza ayuda.",
            "Habla con un profesional si la ansiedad afecta a tu vida diaria, tienes ataques de pánico o ideas de hacerte daño.",
        ),
    ),
    (
        "la osteoporosis",
        "aparato locomotor",
        (
            "La osteoporosis debilita los huesos y los vuelve frágiles, de modo que pueden romperse tras una caída leve.",
            "No suele dar síntomas hasta que se produce una fractura, a menudo en la muñeca, la cadera o la columna.",
            "El ejercicio con carga, suficiente calcio y vitamina D, no fumar y moderar el alcohol mantienen los huesos fuertes.",
            "Pregunta por una densitometría si te has roto un hueso con facilidad o tienes factores de riesgo como una menopausia precoz.",
        ),
    ),
    (
        "la otitis",
        "infecciones",
        (
            "La otitis es la inflamación del oído medio o externo y es muy frecuente en niños pequeños.",
            "Dolor de oído, fiebre, dificultad para oír y, en los niños, tirarse de la oreja son signos habituales.",
            "Evitar el humo del tabaco, mantener las vacunas al día y secar bien los oídos después de nadar puede ayudar.",
            "Consulta si los síntomas duran más de tres días, sale líquido del oído o hay hinchazón detrás de la oreja.",
        ),
    ),
    (
        "la gota",
        "aparato locomotor",
        (
            "La gota es un tipo de artritis causada por cristales de ácido úrico que se acumulan en una articulación, a menudo el dedo gordo del pie.",
            "Dolor repentino e intenso en una articulación que se pone caliente, hinchada y roja, muchas veces de noche.",
            "Beber mucha agua, limitar el alcohol y las bebidas azucaradas y mantener un peso saludable reducen el riesgo.",
            "Consulta si tienes un dolor articular brusco e intenso, sobre todo con fiebre, porque hay que diagnosticarlo bien.",
        ),
    ),
]


def _es(question: str, topic: str) -> str:
    return question.format(t=topic).replace(" de el ", " del ")


def clean_rows() -> list[dict[str, str]]:
    rows = []
    for topic, category, answers in EN:
        for question, answer in zip(EN_QUESTIONS, answers, strict=True):
            rows.append(
                {"question": question.format(t=topic), "answer": answer, "category": category, "language": "en"}
            )
    for topic, category, answers in ES:
        for question, answer in zip(ES_QUESTIONS, answers, strict=True):
            rows.append({"question": _es(question, topic), "answer": answer, "category": category, "language": "es"})
    return rows


def _row(question: str, answer: str, category: str, language: str) -> dict[str, str]:
    return {"question": question, "answer": answer, "category": category, "language": language}


def defect_rows(clean: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """Planted defects, by the rule that must flag them (each row has exactly one defect)."""
    en = [r for r in clean if r["language"] == "en"]
    es = [r for r in clean if r["language"] == "es"]
    exact = [dict(r) for r in (en[1], en[9], en[30], en[61], es[2], es[17], es[44], es[70])]
    normalized = [
        {**en[5], "question": en[5]["question"].lower()},
        {**en[22], "answer": en[22]["answer"].upper()[:1] + en[22]["answer"][1:].replace(", ", " , ")},
        {**en[47], "question": en[47]["question"].rstrip("?") + " ?", "answer": en[47]["answer"].replace(",", "")},
        {**es[8], "question": es[8]["question"].replace("¿", "").replace("?", "").lower()},
        {**es[32], "answer": es[32]["answer"].replace("á", "a").replace("é", "e").replace("í", "i").replace("ó", "o")},
        {**es[58], "answer": "  " + es[58]["answer"].replace(" ", "  ")},
    ]
    near = [  # one word of the question changed
        {**en[12], "question": en[12]["question"].replace("What is", "What's")},
        {**en[37], "question": en[37]["question"].replace("usual", "typical")},
        {**en[74], "question": en[74]["question"].replace("lower", "reduce")},
        {**es[13], "question": es[13]["question"].replace("habituales", "típicos")},
        {**es[42], "question": es[42]["question"].replace("reducir", "bajar")},
        {**es[79], "question": es[79]["question"].replace("consultar al médico", "ir al médico")},
    ]
    conflicting = [  # same question as a clean row, a different (clean) answer
        _row(
            en[0]["question"],
            "It is an infection of the upper airways, and antibiotics do not help because it is caused by viruses.",
            "infections",
            "en",
        ),
        _row(
            en[25]["question"],
            "Most people notice pain behind one eye that builds over an hour, and lying in a dark room usually eases it.",
            "neurology",
            "en",
        ),
        _row(
            en[70]["question"],
            "Keeping feet dry, wearing well-fitting trainers and stretching daily are said to prevent most ankle injuries.",
            "musculoskeletal",
            "en",
        ),
        _row(
            es[4]["question"],
            "Es un virus estacional que se transmite por el aire; descansar y beber líquidos suele ser suficiente en adultos sanos.",
            "infecciones",
            "es",
        ),
        _row(
            es[59]["question"],
            "Ante cualquier duda sobre la vista conviene pedir cita en el oftalmólogo, que revisará el fondo de ojo con calma.",
            "ojos",
            "es",
        ),
    ]
    too_short = [
        _row("Is it safe to exercise with a mild cold?", "Light activity is usually fine.", "general", "en"),
        _row("Can children take adult painkillers?", "No, use children's doses.", "general", "en"),
        _row("Does vitamin C cure colds?", "There is no good evidence.", "infections", "en"),
        _row("¿Se puede hacer deporte con fiebre?", "No, mejor descansar.", "general", "es"),
        _row("¿El agua con limón adelgaza?", "No por sí sola.", "general", "es"),
        _row("¿Hay que ducharse después de nadar?", "Sí, es recomendable.", "piel", "es"),
    ]
    truncated = [
        _row(
            "How much water should an adult drink each day?",
            "Most adults need around six to eight glasses of fluid a day, more in hot weather or when they are very active",
            "general",
            "en",
        ),
        _row(
            "Why do I feel dizzy when I stand up quickly?",
            "Standing up fast can make blood pressure drop for a moment, so less blood reaches the brain and you",
            "cardiovascular",
            "en",
        ),
        _row(
            "¿Por qué me sangran las encías al cepillarme?",
            "El sangrado de encías suele deberse a la acumulación de placa, que irrita e inflama la encía cuando",
            "boca",
            "es",
        ),
        _row(
            "¿Es malo dormir la siesta?",
            "Una siesta corta de veinte minutos puede mejorar la atención, pero las siestas largas dificultan el sueño nocturno",
            "general",
            "es",
        ),
        _row(
            "What causes hiccups?",
            "Hiccups happen when the diaphragm suddenly contracts, often after eating too fast or drinking fizzy drinks…",
            "digestive",
            "en",
        ),
        _row(
            "How long does a bruise take to heal?",
            "Most bruises fade within two weeks, changing colour from purple to green and yellow as they heal...",
            "skin",
            "en",
        ),
        _row(
            "¿Cuánto dura una gastroenteritis?",
            "En la mayoría de los adultos dura entre dos y cinco días, y lo más importante es reponer líquidos…",
            "digestivo",
            "es",
        ),
        _row(
            "¿Qué es la presbicia?",
            "La presbicia es la pérdida natural de la capacidad de enfocar de cerca que aparece hacia los cuarenta años...",
            "ojos",
            "es",
        ),
        _row(
            "Why are my fingers white in the cold?",
            "In some people the small blood vessels in the fingers narrow strongly in the cold, reducing blood flow and",
            "cardiovascular",
            "en",
        ),
        _row(
            "What is a normal resting heart rate?",
            "For most adults a normal resting heart rate is between sixty and one hundred beats per minute, depending on fitness, age and the",
            "cardiovascular",
            "en",
        ),
        _row(
            "¿Qué es la rinitis?",
            "La rinitis es la inflamación de la mucosa de la nariz, que puede deberse a una alergia o a una infección y",
            "respiratorio",
            "es",
        ),
        _row(
            "¿Para qué sirve el ácido fólico?",
            "El ácido fólico es una vitamina necesaria para formar células nuevas y es especialmente importante antes y durante el embarazo de",
            "general",
            "es",
        ),
        _row(
            "¿Por qué se forman los cálculos renales?",
            "Los cálculos se forman cuando la orina tiene demasiados minerales que cristalizan, bloqueando el paso y provocando",
            "digestivo",
            "es",
        ),
    ]
    empty = [
        _row("What is tinnitus?", "", "ears", "en"),
        _row("Can stress cause hair loss?", "   ", "skin", "en"),
        _row("¿Qué es la celiaquía?", "", "digestivo", "es"),
        _row("¿El café sube la tensión?", " ", "cardiovascular", "es"),
    ]
    placeholder = [
        _row(
            "How do I book a vaccination appointment?",
            "Hi {{name}}, you can book a vaccination appointment through your local health centre or its online service.",
            "general",
            "en",
        ),
        _row(
            "Where can I read more about healthy eating?",
            "There is a complete guide to balanced meals and portion sizes at [INSERT LINK] on the health service website.",
            "general",
            "en",
        ),
        _row(
            "¿Dónde puedo consultar el calendario de vacunas?",
            "Puedes consultar el calendario de vacunas actualizado de tu comunidad en <link> o preguntar en tu centro de salud.",
            "general",
            "es",
        ),
        _row(
            "¿Cuántas horas debe dormir un adolescente?",
            "Respuesta: los adolescentes necesitan entre ocho y diez horas de sueño cada noche para rendir bien.",
            "general",
            "es",
        ),
    ]
    pii = [
        _row(
            "Who can I contact about my test results?",
            "Please e-mail the clinic at results.team@example.org and include your full name and date of birth.",
            "general",
            "en",
        ),
        _row(
            "How can I get a repeat prescription?",
            "Call the surgery on (555) 014-2368 between 9 and 11 in the morning to request a repeat prescription.",
            "general",
            "en",
        ),
        _row(
            "¿Cómo pido cita con la enfermera?",
            "Llama al +34 612 345 678 de lunes a viernes o pide la cita en el mostrador de tu centro de salud.",
            "general",
            "es",
        ),
        _row(
            "¿Qué datos necesito para la tarjeta sanitaria?",
            "Necesitas tu documento de identidad, por ejemplo el DNI 12345678Z, y un justificante de empadronamiento.",
            "general",
            "es",
        ),
        _row(
            "¿A quién escribo si tengo una queja?",
            "Escribe a atencion.paciente@ejemplo.es explicando el motivo de la queja y la fecha de la visita.",
            "general",
            "es",
        ),
    ]
    blocklist = [
        _row(
            "Why is my stupid doctor always running late?",
            "Appointments often overrun because some patients need more time than planned; asking for the first slot of the day can help.",
            "general",
            "en",
        ),
        _row(
            "Do I really need antibiotics for a cold?",
            "No, you idiot, a cold is caused by a virus and antibiotics only work against bacteria.",
            "infections",
            "en",
        ),
        _row(
            "Mi médico es un imbécil, ¿puedo cambiar de médico de cabecera?",
            "Sí, en la mayoría de los servicios de salud puedes solicitar un cambio de médico en tu centro de salud.",
            "general",
            "es",
        ),
    ]
    uppercase = [
        _row(
            "WHAT SHOULD I DO IF MY CHILD HAS A HIGH FEVER?",
            "Keep the child cool and drinking fluids, and call a doctor if the fever is very high or the child seems very unwell.",
            "general",
            "en",
        ),
        _row(
            "¿ES NORMAL TENER MAREOS DURANTE EL EMBARAZO?",
            "Los mareos leves son frecuentes en el embarazo, pero conviene comentarlos en la consulta si se repiten o son intensos.",
            "general",
            "es",
        ),
    ]
    return {
        "exact_duplicate": exact,
        "normalized_duplicate": normalized,
        "near_duplicate": near,
        "duplicate_prompt": conflicting,
        "too_short": too_short,
        "truncated": truncated,
        "empty": empty,
        "placeholder": placeholder,
        "pii": pii,
        "blocklist": blocklist,
        "uppercase": uppercase,
    }


def build() -> list[dict[str, str]]:
    clean = clean_rows()
    rows = clean + [row for planted in defect_rows(clean).values() for row in planted]
    random.Random(20240501).shuffle(rows)
    return rows


def main() -> None:
    with OUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["question", "answer", "category", "language"])
        writer.writeheader()
        writer.writerows(build())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
