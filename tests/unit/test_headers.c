/* Every public header compiles on its own and together (STYLE.md: each compiles alone). */
#include "qcal/qcal.h"
#include "qtest.h"

int main(void)
{
    QT_EQ_STR(qcal_status_name(QCAL_E_IO), "E_IO");
    QT_EQ_STR(qcal_dtype_name(QCAL_DT_FLOAT), "float32");
    return qt_report();
}
